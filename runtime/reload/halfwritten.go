package reload

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/tree"
)

// halfWritten reports whether a file that just changed looks like a save
// under way: empty (truncate-then-write), or with a YAML syntax error on
// its last line or one the parser blames on the end of the file.
func halfWritten(changed []string, diags diag.List) bool {
	for _, name := range changed {
		path := name
		if !filepath.IsAbs(path) {
			path, _ = filepath.Abs(filepath.FromSlash(name)) // displayed relative to the working directory
		}
		info, err := os.Stat(path)
		if err != nil || !info.Mode().IsRegular() || info.Size() > tree.MaxFileSize {
			continue // gone, or reported for what it is
		}
		data, err := readAtMost(path, tree.MaxFileSize)
		if err != nil {
			continue
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return true
		}
		lines := bytes.Count(bytes.TrimRight(data, "\n"), []byte("\n")) + 1
		for _, d := range diags {
			if d.Pos.File == name && d.Rule == "yaml-syntax" && (d.Pos.Line >= lines || strings.Contains(d.Message, "half-saved")) {
				return true
			}
		}
	}
	return false
}

// readAtMost reads up to limit bytes of a file, which may be growing.
func readAtMost(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}
