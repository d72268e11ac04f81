package sqldb

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	ms, err := LoadMigrations(fstest.MapFS{
		"m/0002_more.sql": file("B"),
		"m/0001_init.sql": file("A"),
		"m/README.md":     file("not a migration"),
	}, "m")
	if err != nil || len(ms) != 2 || ms[0].Name != "0001_init" || ms[1].SQL != "B" {
		t.Fatalf("%+v %v", ms, err)
	}
	for name, fs := range map[string]fstest.MapFS{
		"gap":      {"m/0001_a.sql": file(""), "m/0003_c.sql": file("")},
		"repeat":   {"m/0001_a.sql": file(""), "m/1_b.sql": file("")},
		"bad name": {"m/init.sql": file("")},
		"zero":     {"m/0000_a.sql": file("")},
	} {
		if _, err := LoadMigrations(fs, "m"); err == nil || !strings.Contains(err.Error(), "migration") {
			t.Errorf("%s: got %v", name, err)
		}
	}
}
