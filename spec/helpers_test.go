package spec

import (
	"strings"

	"github.com/membrane-dev/membrane/spec/diag"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func diagText(l diag.List) string {
	var b strings.Builder
	for _, d := range l {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}
