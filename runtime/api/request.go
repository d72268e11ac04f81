package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// MaxBodyBytes bounds every request body: a JSON request and an override
// document alike (the store keeps overrides up to the same size).
const MaxBodyBytes = 1 << 20

// MaxJSONDepth bounds the nesting of a JSON request body: far beyond any
// real input, far below what would cost the decoders.
const MaxJSONDepth = 64

// readBody reads the body of a request whose media type must be one of
// types (the first is named in the problem). An empty body is allowed:
// the caller decides whether it needs one. It answers the problem itself
// and returns ok false.
func readBody(w http.ResponseWriter, r *http.Request, types ...string) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errorAs[*http.MaxBytesError](err); ok {
			writeProblem(w, problem(http.StatusRequestEntityTooLarge, "body-too-large",
				fmt.Sprintf("The request body is larger than %d bytes (1 MiB), the limit of this API. Send less.", MaxBodyBytes)))
			return nil, false
		}
		if isTimeout(err) {
			// The server's body read timeout cut a client that sent too
			// slowly; the connection is closed after this answer.
			writeProblem(w, problem(http.StatusRequestTimeout, "request-timeout",
				"The request body did not arrive within the server's body read timeout. Send the whole body at once."))
			return nil, false
		}
		writeProblem(w, problem(http.StatusBadRequest, "invalid-request", "The request body could not be read; send it again."))
		return nil, false
	}
	if len(body) == 0 {
		return nil, true
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !acceptable(mt, types) {
		writeProblem(w, problem(http.StatusUnsupportedMediaType, "unsupported-media-type",
			"This endpoint reads "+strings.Join(types, " or ")+"; send the body with that Content-Type."))
		return nil, false
	}
	if mt == "application/json" {
		if off, deep := tooDeep(body, MaxJSONDepth); deep {
			line, col := lineCol(body, int64(off))
			writeProblem(w, problem(http.StatusBadRequest, "json-too-deep", fmt.Sprintf(
				"The body nests objects and arrays deeper than %d levels, the limit of this API: the bracket at byte %d (line %d, column %d) opens level %d. Flatten it.",
				MaxJSONDepth, off+1, line, col, MaxJSONDepth+1)))
			return nil, false
		}
	}
	return body, true
}

// tooDeep finds where JSON text nests objects and arrays deeper than
// max: the offset of the bracket that goes one level too far. One pass
// over the bytes, before any decoder spends work (or stack) on them.
func tooDeep(b []byte, max int) (int, bool) {
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++ // the escaped byte cannot end the string
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > max {
				return i, true
			}
		case '}', ']':
			depth--
		}
	}
	return 0, false
}

// isTimeout reports a read that hit a deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func acceptable(mt string, types []string) bool {
	for _, t := range types {
		if mt == t {
			return true
		}
	}
	return false
}

// decodeJSON reads a JSON request body into v, refusing unknown fields
// and trailing data. required false lets an empty body through as the
// zero request. Problems are answered here; ok false means stop.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, required bool) bool {
	body, ok := readBody(w, r, "application/json")
	if !ok {
		return false
	}
	return decodeBody(w, body, v, required)
}

// decodeBody is decodeJSON of a body already read.
func decodeBody(w http.ResponseWriter, body []byte, v any, required bool) bool {
	if len(body) == 0 {
		if required {
			writeProblem(w, problem(http.StatusBadRequest, "malformed-json", "The request body is empty; send a JSON object (Content-Type: application/json)."))
			return false
		}
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			err = fmt.Errorf("unexpected data after the JSON value at offset %d", dec.InputOffset())
		}
	}
	if err != nil {
		writeProblem(w, jsonProblem(err, body))
		return false
	}
	return true
}

// jsonProblem says where a body is malformed: the byte offset (and line
// and column) of a syntax error, the JSON Pointer of a value of the wrong
// type or a field this endpoint does not take.
func jsonProblem(err error, body []byte) *Problem {
	p := problem(http.StatusBadRequest, "malformed-json", "")
	if se, ok := errorAs[*json.SyntaxError](err); ok {
		// Offset counts the bytes read, the offending one included.
		line, col := lineCol(body, se.Offset-1)
		p.Detail = fmt.Sprintf("The body is not valid JSON: %s, at byte %d (line %d, column %d). Fix the syntax and send again.", se.Error(), se.Offset, line, col)
		return p
	}
	if te, ok := errorAs[*json.UnmarshalTypeError](err); ok {
		ptr := "/" + strings.ReplaceAll(te.Field, ".", "/")
		if te.Field == "" {
			ptr = ""
		}
		p.Detail = fmt.Sprintf("A value has the wrong type: %s where %s is expected. Fix the value errors[] points at.", te.Value, jsonType(te.Type.Kind().String()))
		p.Errors = []FieldError{{Pointer: ptr, Detail: fmt.Sprintf("must be %s, not %s", jsonType(te.Type.Kind().String()), te.Value)}}
		return p
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		p.Detail = fmt.Sprintf("The body has a field this endpoint does not take: %q. Remove it (the request schema is in /openapi.json).", name)
		p.Errors = []FieldError{{Pointer: "/" + escapePointer(name), Detail: "unknown field"}}
		return p
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		p.Detail = fmt.Sprintf("The body ends in the middle of a JSON value (offset %d). Send the whole document.", len(body))
		return p
	}
	p.Detail = "The body is not valid JSON: " + err.Error() + ". Fix it and send again."
	return p
}

// jsonType names a Go kind as the JSON type it decodes from.
func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "int", "int64", "int32", "float64", "float32", "uint", "uint64":
		return "a number"
	}
	return "another type"
}

func lineCol(b []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < off && i < int64(len(b)); i++ {
		if b[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// escapePointer escapes a JSON Pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// paging reads ?cursor= and ?limit= (1 to 1000; absent means 50).
func paging(w http.ResponseWriter, r *http.Request) (cursor string, limit int, ok bool) {
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			p := problem(http.StatusBadRequest, "invalid-query", "limit is the page size, a whole number from 1 to 1000 (50 when absent).")
			p.Errors = []FieldError{{Parameter: "limit", Detail: "must be a whole number from 1 to 1000"}}
			writeProblem(w, p)
			return "", 0, false
		}
		limit = n
	}
	return q.Get("cursor"), limit, true
}

// badCursor answers a cursor the store could not read.
func badCursor(w http.ResponseWriter) {
	p := problem(http.StatusBadRequest, "invalid-query", "cursor is not one this API gave: pass the next member of the previous page unchanged, or leave it out for the first page.")
	p.Errors = []FieldError{{Parameter: "cursor", Detail: "not a cursor of this listing"}}
	writeProblem(w, p)
}
