package commands

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestNoSQLHTTPCrypto: commands/ is wiring. Its (non-test) files import no SQL
// driver, HTTP or crypto package and hold no SQL text: those live in the
// domain packages, the stores, the providers and their fakes (issue #13).
func TestNoSQLHTTPCrypto(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	banned := func(path string) bool {
		switch {
		case path == "net" || strings.HasPrefix(path, "net/"),
			path == "crypto" || strings.HasPrefix(path, "crypto/"),
			path == "database/sql" || strings.HasPrefix(path, "database/sql/"),
			strings.HasPrefix(path, "modernc.org/sqlite"):
			return true
		}
		return false
	}
	sqlText := regexp.MustCompile(`\b(SELECT\s.*\bFROM|INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)|ALTER\s+TABLE|DROP\s+TABLE)\b`)
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); banned(p) {
				t.Errorf("%s imports %s", fset.Position(imp.Pos()), p)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && sqlText.MatchString(lit.Value) {
				t.Errorf("%s: SQL in a string: %.60q", fset.Position(lit.Pos()), lit.Value)
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no files checked")
	}
}
