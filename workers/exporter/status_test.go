package exporter

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscapeField(t *testing.T) {
	for in, want := range map[string]string{
		"plain/path.csv":   "plain/path.csv",
		"tab\there":        `tab\there`,
		"line\nbreak\r":    `line\nbreak\r`,
		`back\slash`:       `back\\slash`,
		"ünïcode/日本語.json": "ünïcode/日本語.json",
	} {
		if got := escapeField(in); got != want {
			t.Errorf("escapeField(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFailureMessagesStayUTF8(t *testing.T) {
	var s spanRun
	long := strings.Repeat("é", maxErrorLen) // 2 bytes per rune: the cut falls inside one
	s.fail("a", errors.New(long), 10)
	s.fail("b", errors.New("bad \xff byte"), 10)
	for range 5 {
		s.fail("c", errors.New("more"), 2)
	}
	if s.res.Failed != 7 || len(s.res.Failures) != 2 {
		t.Fatalf("failed %d, listed %d; want 7 and the limit 2", s.res.Failed, len(s.res.Failures))
	}
	for _, f := range s.res.Failures {
		if !utf8.ValidString(f.Error) || len(f.Error) > maxErrorLen+len("…") {
			t.Fatalf("failure message %q: not UTF-8 or too long", f.Error)
		}
	}
}
