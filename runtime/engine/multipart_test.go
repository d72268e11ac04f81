package engine_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane"
)

const uploadFile = `kind: Action
connector: test
key: upload
inputSchema:
  type: object
  required: [name, content]
  properties:
    name: {type: string}
    content: {type: string, contentEncoding: base64}
    contentType: {type: string}
    folderId: {type: string}
request:
  method: POST
  path: /files/content
  encoding: multipart
  body:
    attributes: {json: "${ {'name': input.name, 'parent': {'id': input.?folderId.orValue('0')}} }"}
    file:
      base64: ${ input.content }
      filename: ${ input.name }
      contentType: ${ input.?contentType.orValue(null) }
    note: uploaded by membrane
    tags: [a, b]
    skipped: ${ input.?folderId.orValue(null) }
output:
  id: ${ response.body.id }
`

// part is one part of a multipart body as Go's own reader parses it.
type part struct {
	name, filename, contentType, content string
}

func readParts(t *testing.T, contentType, body string) []part {
	t.Helper()
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("Content-Type = %q", contentType)
	}
	mr := multipart.NewReader(strings.NewReader(body), params["boundary"])
	var out []part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading the multipart body: %v", err)
		}
		b, _ := io.ReadAll(p)
		out = append(out, part{p.FormName(), p.FileName(), p.Header.Get("Content-Type"), string(b)})
	}
}

func TestMultipartUpload(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 201, map[string]any{"id": "f_1"})
	})
	e := load(t, srv.URL, map[string]string{"connector.yaml": connector(""), "upload.yaml": uploadFile})
	content := []byte("%PDF-1.7\x00\xff\xfe binary")
	out := e.mustRun(t, membrane.RunRequest{Action: "upload", Input: map[string]any{
		"name": `report "Q3".pdf`, "content": base64.StdEncoding.EncodeToString(content), "contentType": "application/pdf",
	}})
	if asJSON(t, out) != `{"id":"f_1"}` {
		t.Errorf("output = %s", asJSON(t, out))
	}
	r := srv.requests()[0]
	got := readParts(t, r.Header.Get("Content-Type"), r.Body)
	want := []part{
		{"attributes", "", "application/json", `{"name":"report \"Q3\".pdf","parent":{"id":"0"}}`},
		{"file", `report "Q3".pdf`, "application/pdf", string(content)},
		{"note", "", "", "uploaded by membrane"},
		{"tags", "", "", "a"},
		{"tags", "", "", "b"},
	}
	if len(got) != len(want) {
		t.Fatalf("parts = %+v\nwant    %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("part %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	// Without a content type, a file is application/octet-stream.
	e.mustRun(t, membrane.RunRequest{Action: "upload", Input: map[string]any{"name": "a.bin", "content": "AAE="}})
	r = srv.requests()[1]
	if p := readParts(t, r.Header.Get("Content-Type"), r.Body)[1]; p.contentType != "application/octet-stream" || p.content != "\x00\x01" {
		t.Errorf("file part = %+v", p)
	}
}

func TestMultipartBadBase64(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 201, map[string]any{"id": "x"}) })
	e := load(t, srv.URL, map[string]string{"connector.yaml": connector(""), "upload.yaml": uploadFile})
	err := e.runErr(t, membrane.RunRequest{Action: "upload", Input: map[string]any{"name": "a", "content": "not base64!"}}, "expression")
	if !strings.Contains(err.Message, `file part "file": base64 is not valid base64`) || !strings.Contains(err.Message, "upload.yaml:17") {
		t.Errorf("error = %v", err)
	}
	if srv.n() != 0 {
		t.Errorf("a request was sent")
	}
}

const download = `kind: Action
connector: test
key: download
request:
  path: /files/1/content
  responseFormat: base64
output:
  content: ${ response.body }
  type: ${ response.headers['content-type'] }
`

func TestBinaryDownloadAsBase64(t *testing.T) {
	data := []byte{0x89, 'P', 'N', 'G', 0x00, 0xff, 0x10, 0x80}
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Header.Get("Accept") != "*/*" {
			writeJSON(w, 406, map[string]any{"error": "Accept " + r.Header.Get("Accept")})
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(data)
	})
	e := load(t, srv.URL, map[string]string{"connector.yaml": connector(""), "download.yaml": download})
	out, _ := e.mustRun(t, membrane.RunRequest{Action: "download"}).(map[string]any)
	got, err := base64.StdEncoding.DecodeString(out["content"].(string))
	if err != nil || !bytes.Equal(got, data) || out["type"] != "image/png" {
		t.Errorf("output = %v (decoded %q, %v)", out, got, err)
	}
}

// A download over the connector's size cap fails saying which cap and
// where to raise it; an error answer is still read as JSON for the error
// rules.
func TestBinaryDownloadOverTheCap(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Query().Get("missing") != "" {
			writeJSON(w, 404, map[string]any{"message": "no such file"})
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(bytes.Repeat([]byte{1}, 4096))
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("http: {maxResponseBytes: 1024}\nerrors:\n  - status: [404]\n    type: not-found\n    message: ${ response.body.message }\n"),
		"download.yaml":  strings.Replace(download, "path: /files/1/content", "path: /files/1/content\n  query: {missing: \"${ input.?missing.orValue(null) }\"}", 1),
	})
	err := e.runErr(t, membrane.RunRequest{Action: "download"}, "upstream")
	if !strings.Contains(err.Message, "larger than 1024 bytes") || !strings.Contains(err.Message, "maxResponseBytes") {
		t.Errorf("error = %v", err)
	}
	nf := e.runErr(t, membrane.RunRequest{Action: "download", Input: map[string]any{"missing": "yes"}}, "not-found")
	if nf.Message != "no such file" {
		t.Errorf("error = %v", nf)
	}
}
