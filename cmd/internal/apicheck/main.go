// Command apicheck checks the module's exported surface, as the test command runs it:
//
//	go run ./cmd/internal/apicheck [-max N] [-v] [dir]
//
// It fails when an exported identifier of a non-test Go file lacks a doc comment (on its
// declaration, its group, or a method of an exported type), and prints the number of exported
// identifiers of every public package (top-level names, methods of exported types and the
// methods of exported interfaces; internal packages, commands, bench/ and integration/ are not
// public). With -max it also fails when the total exceeds N.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	limit := flag.Int("max", 0, "fail when the public packages export more identifiers than this (0: no limit)")
	verbose := flag.Bool("v", false, "list every exported identifier")
	flag.Parse()
	root := "."
	if flag.NArg() > 0 {
		root = flag.Arg(0)
	}
	var missing []string
	counts := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (d.Name() == "bench" || d.Name() == "testdata" || d.Name() == "integration" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" {
			return nil
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		public := !isInternal(dir)
		count := func(name string) {
			if public {
				counts[dir] = append(counts[dir], name)
			}
		}
		miss := func(pos token.Pos, what string) {
			missing = append(missing, fmt.Sprintf("%s: %s", fset.Position(pos), what))
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				recv := ""
				if d.Recv != nil {
					var ok bool
					if recv, ok = exportedRecv(d.Recv); !ok {
						continue
					}
					recv += "."
				}
				count(recv + d.Name.Name)
				if d.Doc == nil {
					miss(d.Pos(), "func "+recv+d.Name.Name)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						count(s.Name.Name)
						if d.Doc == nil && s.Doc == nil && s.Comment == nil {
							miss(s.Pos(), "type "+s.Name.Name)
						}
						if it, ok := s.Type.(*ast.InterfaceType); ok {
							for _, m := range it.Methods.List {
								for _, n := range m.Names {
									if n.IsExported() {
										count(s.Name.Name + "." + n.Name)
									}
								}
							}
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if !n.IsExported() {
								continue
							}
							count(n.Name)
							if d.Doc == nil && s.Doc == nil && s.Comment == nil {
								miss(n.Pos(), n.Name)
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	failed := false
	for _, m := range missing {
		fmt.Println("missing doc comment:", m)
		failed = true
	}
	dirs := make([]string, 0, len(counts))
	total := 0
	for d, names := range counts {
		dirs = append(dirs, d)
		total += len(names)
	}
	sort.Strings(dirs)
	fmt.Println("exported identifiers per public package:")
	for _, d := range dirs {
		fmt.Printf("%5d  %s\n", len(counts[d]), d)
		if *verbose {
			sort.Strings(counts[d])
			fmt.Printf("       %s\n", strings.Join(counts[d], " "))
		}
	}
	fmt.Printf("%5d  in all", total)
	if *limit > 0 {
		fmt.Printf(" (at most %d)", *limit)
		if total > *limit {
			failed = true
		}
	}
	fmt.Println()
	if failed {
		os.Exit(1)
	}
}

// isInternal reports a directory inside an internal/ tree or a command's.
func isInternal(dir string) bool {
	for _, p := range strings.Split(filepath.ToSlash(dir), "/") {
		if p == "internal" || p == "cmd" || p == "examples" {
			return true
		}
	}
	return false
}

// exportedRecv returns a method's receiver type name and whether it is exported.
func exportedRecv(fl *ast.FieldList) (string, bool) {
	if len(fl.List) == 0 {
		return "", false
	}
	t := fl.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.Ident:
			return x.Name, x.IsExported()
		default:
			return "", false
		}
	}
}
