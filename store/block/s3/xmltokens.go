package s3

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// maxXMLToken bounds one token of a listing answer (a tag, a run of
// character data, a comment): keys are at most 1,024 bytes, so anything
// near this is not a listing.
const maxXMLToken = 1 << 20

// errXMLTokenTooLong reports a token over maxXMLToken bytes.
var errXMLTokenTooLong = errors.New("XML token too long")

// readError is a failure to read the document (a connection cut short),
// as against a document that is not XML.
type readError struct{ err error }

func (e *readError) Error() string { return "read: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// readFailure wraps err, from the reader, as a readError: the end of the
// stream inside markup is a document cut short, reported as
// io.ErrUnexpectedEOF.
func readFailure(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &readError{err}
}

// tokenKind is the kind of one token of an XML document.
type tokenKind uint8

const (
	tokEOF       tokenKind = iota
	tokStart               // <name attr="…">: the name
	tokStartVoid           // <name attr="…"/>: the name
	tokEnd                 // </name>: the name
	tokText                // character data, its references not replaced
	tokCDATA               // <![CDATA[…]]>: the literal data
)

// xmlTokens splits an XML document read from a stream into the tokens a
// listing is made of, holding one token at a time, so that an answer is
// decoded as it arrives rather than read whole first. Declarations,
// processing instructions, comments and DOCTYPEs are skipped; attributes
// are read past (a '>' inside a quoted value included) and not reported.
type xmlTokens struct {
	r *bufio.Reader
	// buf holds the current token's bytes.
	buf []byte
	// markup reports that the '<' that starts the next token was read
	// with the text before it.
	markup bool
}

// reset makes x read the document r holds, from its start; reset(nil)
// drops the reference to the last one.
func (x *xmlTokens) reset(r io.Reader) {
	x.r.Reset(r)
	x.buf, x.markup = x.buf[:0], false
	if cap(x.buf) > 64<<10 {
		x.buf = nil // grown by an outsized token: not kept
	}
}

// next returns the next token and its bytes, which may be the reader's
// own buffer and are valid until the next call; tokEOF at the end of the
// document.
func (x *xmlTokens) next() (tokenKind, []byte, error) {
	for {
		if !x.markup {
			text, err := x.text()
			if err != nil {
				return tokEOF, nil, err
			}
			if len(text) > 0 {
				return tokText, text, nil
			}
			if !x.markup {
				return tokEOF, nil, nil
			}
		}
		x.markup = false
		kind, data, err := x.tag()
		if err != nil || kind != tokEOF {
			return kind, data, err
		}
		// A declaration, comment or the like: nothing to report.
	}
}

// text reads character data up to the next '<' (consumed, setting
// x.markup) or the end of the stream.
func (x *xmlTokens) text() ([]byte, error) {
	x.buf = x.buf[:0]
	for {
		chunk, err := x.r.ReadSlice('<')
		switch {
		case err == nil && len(x.buf) == 0:
			// All in the reader's buffer: no copy.
			x.markup = true
			return chunk[:len(chunk)-1], nil
		case err == nil:
			x.buf = append(x.buf, chunk[:len(chunk)-1]...)
			x.markup = true
			return x.buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
			x.buf = append(x.buf, chunk...)
			if len(x.buf) > maxXMLToken {
				return nil, errXMLTokenTooLong
			}
		case errors.Is(err, io.EOF):
			x.buf = append(x.buf, chunk...)
			return x.buf, nil
		default:
			return nil, &readError{err}
		}
	}
}

// tag reads the markup after a '<'. It returns tokEOF (and no error) for
// markup that is not reported.
func (x *xmlTokens) tag() (tokenKind, []byte, error) {
	b, err := x.r.ReadByte()
	if err != nil {
		return tokEOF, nil, readFailure(err)
	}
	switch b {
	case '/':
		name, err := x.until(">", false)
		if err != nil {
			return tokEOF, nil, err
		}
		return tokEnd, bytes.TrimRight(name, " \t\r\n"), nil
	case '?':
		_, err := x.until("?>", false)
		return tokEOF, nil, err
	case '!':
		start, err := x.r.Peek(2)
		if err == nil && string(start) == "--" {
			_, err := x.until("-->", false)
			return tokEOF, nil, err
		}
		start, err = x.r.Peek(7)
		if err == nil && string(start) == "[CDATA[" {
			if _, err := x.r.Discard(7); err != nil {
				return tokEOF, nil, readFailure(err)
			}
			data, err := x.until("]]>", false)
			return tokCDATA, data, err
		}
		_, err = x.until(">", true)
		return tokEOF, nil, err
	}
	if err := x.r.UnreadByte(); err != nil {
		return tokEOF, nil, err
	}
	content, err := x.until(">", true)
	if err != nil {
		return tokEOF, nil, err
	}
	kind := tokStart
	if n := len(content); n > 0 && content[n-1] == '/' {
		kind, content = tokStartVoid, content[:n-1]
	}
	for i, c := range content {
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			content = content[:i]
			break
		}
	}
	if len(content) == 0 {
		return tokEOF, nil, errors.New("tag without a name")
	}
	return kind, content, nil
}

// until reads up to end (consumed) and returns what came before it. With
// quoted, an end inside a quoted attribute value does not count.
func (x *xmlTokens) until(end string, quoted bool) ([]byte, error) {
	x.buf = x.buf[:0]
	last := end[len(end)-1]
	for {
		chunk, err := x.r.ReadSlice(last)
		if err == nil && len(x.buf) == 0 && bytes.HasSuffix(chunk, []byte(end)) {
			// All in the reader's buffer: no copy.
			if body := chunk[:len(chunk)-len(end)]; !quoted || !inQuotes(body) {
				return body, nil
			}
		}
		x.buf = append(x.buf, chunk...)
		switch {
		case err == nil:
			if bytes.HasSuffix(x.buf, []byte(end)) {
				body := x.buf[:len(x.buf)-len(end)]
				if !quoted || !inQuotes(body) {
					return body, nil
				}
			}
		case errors.Is(err, bufio.ErrBufferFull):
		default:
			return nil, readFailure(err)
		}
		if len(x.buf) > maxXMLToken {
			return nil, errXMLTokenTooLong
		}
	}
}

// inQuotes reports whether tag content ends inside a quoted value.
func inQuotes(content []byte) bool {
	var quote byte
	for _, c := range content {
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		}
	}
	return quote != 0
}
