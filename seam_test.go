package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Issue #13: nothing outside localstate/ drives database/sql or the SQLite
// driver itself; everything else goes through the localstate seam
// (localstate.Open, OpenSQLiteDB, Tx, Querier). The journal keeps to it in
// its tests too.
func TestSQLOnlyInLocalstate(t *testing.T) {
	forbidden := func(imp string) bool {
		return imp == "database/sql" || imp == "database/sql/driver" ||
			imp == "modernc.org/sqlite" || strings.HasPrefix(imp, "modernc.org/sqlite/")
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch {
			case path == "localstate", d.Name() == "testdata", path != "." && strings.HasPrefix(d.Name(), "."):
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		// Tests elsewhere may build fixtures with database/sql; the
		// journal's may not.
		if strings.HasSuffix(path, "_test.go") && filepath.Dir(path) != "journal" {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, s := range f.Imports {
			imp, _ := strconv.Unquote(s.Path.Value)
			if forbidden(imp) {
				t.Errorf("%s imports %s: go through the localstate seam instead", path, imp)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
