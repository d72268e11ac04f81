package engine

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"slices"
	"strings"

	"github.com/membrane-dev/membrane/runtime/internal/fastjson"
)

// encodeMultipart writes a body as multipart/form-data, one part per field
// in key order: a scalar is a text part; {base64, filename, contentType}
// a file whose content is decoded from base64; {json: value} a part of
// type application/json; a list, several parts of one name; null, none.
func encodeMultipart(v any) ([]byte, string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, "", fmt.Errorf("a multipart body must be an object of parts, not %s", jsonKindOf(v))
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	names := mapsKeys(m)
	slices.Sort(names)
	for _, name := range names {
		x := m[name]
		items, isList := x.([]any)
		if !isList {
			items = []any{x}
		}
		for i, it := range items {
			where := name
			if isList {
				where = fmt.Sprintf("%s[%d]", name, i)
			}
			if err := writePart(w, name, where, it); err != nil {
				return nil, "", err
			}
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

func writePart(w *multipart.Writer, name, where string, v any) error {
	switch t := v.(type) {
	case nil:
		return nil
	case map[string]any:
		if content, ok := t["base64"]; ok {
			return writeFilePart(w, name, where, t, content)
		}
		if val, ok := t["json"]; ok && len(t) == 1 {
			b, ok := fastjson.Encode(val)
			if !ok {
				var err error
				if b, err = json.Marshal(val); err != nil {
					return fmt.Errorf("part %q: %v", where, err)
				}
			}
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"`, escapeQuotes(name)))
			h.Set("Content-Type", "application/json")
			pw, err := w.CreatePart(h)
			if err != nil {
				return err
			}
			_, err = pw.Write(b)
			return err
		}
		return fmt.Errorf("part %q is an object: write a file as {base64, filename, contentType}, a JSON part as {json: value}, or text", where)
	case []any:
		return fmt.Errorf("part %q is a list inside a list; a list gives several parts of one name", where)
	}
	return w.WriteField(name, text(v))
}

func writeFilePart(w *multipart.Writer, name, where string, f map[string]any, content any) error {
	for k := range f {
		if k != "base64" && k != "filename" && k != "contentType" {
			return fmt.Errorf("file part %q has %q; a file part has base64, filename and contentType", where, k)
		}
	}
	s, ok := content.(string)
	if !ok {
		return fmt.Errorf("file part %q: base64 must be a string, not %s", where, jsonKindOf(content))
	}
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if data, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return fmt.Errorf("file part %q: base64 is not valid base64 (standard alphabet): %v", where, err)
		}
	}
	filename, ct := name, "application/octet-stream"
	if s, ok := f["filename"].(string); ok && s != "" {
		filename = s
	}
	if s, ok := f["contentType"].(string); ok && s != "" {
		ct = s
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, escapeQuotes(name), escapeQuotes(filename)))
	h.Set("Content-Type", ct)
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	_, err = pw.Write(data)
	return err
}

// escapeQuotes escapes a name in a Content-Disposition header as
// mime/multipart does for its own fields.
var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "%0D", "\n", "%0A")

func escapeQuotes(s string) string { return quoteEscaper.Replace(s) }

func mapsKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// jsonKindOf names a value's JSON type, for messages.
func jsonKindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number"
}
