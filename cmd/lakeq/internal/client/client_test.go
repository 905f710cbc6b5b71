package client

import (
	"fmt"
	"net/http"
	"testing"
)

func TestNewEndpoint(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"http://127.0.0.1:8000", "http://127.0.0.1:8000/api/v1"},
		{"http://127.0.0.1:8000/", "http://127.0.0.1:8000/api/v1"},
		{"http://127.0.0.1:8000/api/v1", "http://127.0.0.1:8000/api/v1"},
		{"http://127.0.0.1:8000/api/v1/", "http://127.0.0.1:8000/api/v1"},
		{"https://lakeq.example/prefix", "https://lakeq.example/prefix/api/v1"},
		{"https://lakeq.example/prefix/api/v1?x=1#frag", "https://lakeq.example/prefix/api/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := New(Config{Endpoint: tt.in})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Endpoint(); got != tt.want {
				t.Fatalf("Endpoint() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	for _, in := range []string{"", "127.0.0.1:8000", "ftp://host/", "http://", "http://%zz"} {
		t.Run(in, func(t *testing.T) {
			if c, err := New(Config{Endpoint: in}); err == nil {
				t.Fatalf("New(%q) = %v, want an error", in, c.Endpoint())
			}
		})
	}
}

func TestIsStatus(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &APIError{StatusCode: http.StatusConflict, Message: "merge conflict", Method: "POST", Path: "/x"})
	if !IsStatus(err, http.StatusConflict) || IsStatus(err, http.StatusNotFound) {
		t.Fatalf("IsStatus on %v", err)
	}
	if want := "POST /x: 409 Conflict: merge conflict"; err.Error() != "wrapped: "+want {
		t.Fatalf("Error() = %q", err.Error())
	}
	if IsStatus(fmt.Errorf("plain"), http.StatusConflict) {
		t.Fatal("IsStatus on a plain error")
	}
}
