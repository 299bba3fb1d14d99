package arch

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// maxFuncLines bounds a function (declaration or literal, first line to
// closing brace) in the packages where logic concentrates, so that each
// reads as named steps.
const maxFuncLines = 80

var shortFuncPackages = []string{"daemon", "reconcile", "render", "grants", "cmd/skupper/cli"}

func TestFunctionsStayShort(t *testing.T) {
	fset := token.NewFileSet()
	for _, pkg := range shortFuncPackages {
		files, err := filepath.Glob(filepath.Join("..", "..", pkg, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", pkg, err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, file, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				var name string
				switch fn := n.(type) {
				case *ast.FuncDecl:
					name = fn.Name.Name
				case *ast.FuncLit:
					name = "func literal"
				default:
					return true
				}
				lines := fset.Position(n.End()).Line - fset.Position(n.Pos()).Line + 1
				if lines > maxFuncLines {
					t.Errorf("%s:%d: %s is %d lines long (at most %d): split it into named steps",
						strings.TrimPrefix(file, "../../"), fset.Position(n.Pos()).Line, name, lines, maxFuncLines)
				}
				return true
			})
		}
	}
}
