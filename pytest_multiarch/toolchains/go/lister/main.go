// Command golister tells which tests, fuzz targets and examples `go test` runs in each package
// it is given, in the order the test binary runs them, by the rules cmd/go applies when it
// writes a test binary's main (cmd/go/internal/load/test.go): a file is parsed as Go parses it,
// a TestXxx, FuzzXxx or BenchmarkXxx is a function without receiver whose name has no lower-case
// letter after the prefix, with one parameter *T, *F or *B (of the testing package under any
// name, or dot-imported); TestMain(*M) is the binary's main, not a test; examples come from
// go/doc and run only with an output comment.
//
// It reads a JSON array of packages on stdin and writes a JSON array of results on stdout, one
// per package, in the same order. It uses the standard library only; pytest-multiarch builds it
// with the user's go.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/scanner"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Package is one package as `go list` reports it for an architecture.
type Package struct {
	Dir          string   `json:"dir"`
	TestGoFiles  []string `json:"test_go_files"`
	XTestGoFiles []string `json:"xtest_go_files"`
	// _test.go files that build constraints leave out: their tests run on other architectures.
	IgnoredTestFiles []string `json:"ignored_test_files"`
}

// Test is one function the test binary runs at top level.
type Test struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"` // "test", "fuzz" or "example"
	File     string `json:"file"`
	Line     int    `json:"line"` // 1-based, of the func keyword
	External bool   `json:"external"`
}

// Result is what go test would run of one package.
type Result struct {
	Dir          string `json:"dir"`
	Tests        []Test `json:"tests"`     // in the order the test binary runs them
	Elsewhere    []Test `json:"elsewhere"` // declared in IgnoredTestFiles
	XTestPackage string `json:"xtest_package,omitempty"`
	Error        string `json:"error,omitempty"` // why go test cannot build the test binary
}

type funcs struct {
	fset      *token.FileSet
	tests     []Test
	fuzz      []Test
	examples  []Test
	testMain  bool
	xtestName string
}

func main() {
	var packages []Package
	if err := json.NewDecoder(os.Stdin).Decode(&packages); err != nil {
		fmt.Fprintf(os.Stderr, "golister: reading the packages on stdin: %v\n", err)
		os.Exit(2)
	}
	results := make([]Result, 0, len(packages))
	for _, p := range packages {
		results = append(results, list(p))
	}
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(results); err != nil {
		fmt.Fprintf(os.Stderr, "golister: %v\n", err)
		os.Exit(2)
	}
}

func list(p Package) Result {
	t := &funcs{fset: token.NewFileSet()}
	var first error
	for _, name := range p.TestGoFiles {
		if err := t.load(filepath.Join(p.Dir, name), false); err != nil && first == nil {
			first = err
		}
	}
	for _, name := range p.XTestGoFiles {
		if err := t.load(filepath.Join(p.Dir, name), true); err != nil && first == nil {
			first = err
		}
	}
	r := Result{Dir: p.Dir, XTestPackage: t.xtestName, Elsewhere: []Test{}}
	r.Tests = append(append(append([]Test{}, t.tests...), t.fuzz...), t.examples...)
	if first != nil {
		r.Error = describe(first)
	}
	for _, name := range p.IgnoredTestFiles {
		other := &funcs{fset: token.NewFileSet()}
		path := filepath.Join(p.Dir, name)
		external, ok := packageIsExternal(other.fset, path)
		if !ok {
			continue // not Go that parses: whatever it is, no architecture of this run builds it as is
		}
		if other.load(path, external) != nil {
			continue
		}
		if r.XTestPackage == "" {
			r.XTestPackage = other.xtestName
		}
		r.Elsewhere = append(r.Elsewhere, other.tests...)
		r.Elsewhere = append(r.Elsewhere, other.fuzz...)
		r.Elsewhere = append(r.Elsewhere, other.examples...)
	}
	return r
}

// packageIsExternal reads a file's package clause: is it an external test package (name_test)?
func packageIsExternal(fset *token.FileSet, path string) (bool, bool) {
	f, err := parser.ParseFile(fset, path, nil, parser.PackageClauseOnly)
	if err != nil {
		return false, false
	}
	return strings.HasSuffix(f.Name.Name, "_test"), true
}

// load adds one file's tests, as cmd/go's testFuncs.load does.
func (t *funcs) load(path string, external bool) error {
	f, err := parser.ParseFile(t.fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return err
	}
	if external && t.xtestName == "" {
		t.xtestName = f.Name.Name
	}
	at := func(n ast.Node) (string, int) {
		pos := t.fset.Position(n.Pos())
		return pos.Filename, pos.Line
	}
	decls := map[string]*ast.FuncDecl{}
	for _, d := range f.Decls {
		n, ok := d.(*ast.FuncDecl)
		if !ok || n.Recv != nil {
			continue
		}
		name := n.Name.Name
		decls[name] = n
		file, line := at(n)
		test := Test{Name: name, File: file, Line: line, External: external}
		switch {
		case name == "TestMain":
			if isTestFunc(n, "T") {
				test.Kind = "test"
				t.tests = append(t.tests, test)
				continue
			}
			if err := t.check(n, "M"); err != nil {
				return err
			}
			if t.testMain {
				return errors.New("multiple definitions of TestMain")
			}
			t.testMain = true
		case isTest(name, "Test"):
			if err := t.check(n, "T"); err != nil {
				return err
			}
			test.Kind = "test"
			t.tests = append(t.tests, test)
		case isTest(name, "Benchmark"):
			if err := t.check(n, "B"); err != nil {
				return err
			}
		case isTest(name, "Fuzz"):
			if err := t.check(n, "F"); err != nil {
				return err
			}
			test.Kind = "fuzz"
			t.fuzz = append(t.fuzz, test)
		}
	}
	examples := doc.Examples(f)
	sort.Slice(examples, func(i, j int) bool { return examples[i].Order < examples[j].Order })
	for _, e := range examples {
		if e.Output == "" && !e.EmptyOutput {
			continue // compiled, never run
		}
		test := Test{Name: "Example" + e.Name, Kind: "example", External: external}
		if n, ok := decls[test.Name]; ok {
			test.File, test.Line = at(n)
		} else {
			test.File, test.Line = at(e.Code)
		}
		t.examples = append(t.examples, test)
	}
	return nil
}

// check is cmd/go's checkTestFunc: a function named like a test must have a test's signature.
func (t *funcs) check(fn *ast.FuncDecl, arg string) error {
	var why string
	if !isTestFunc(fn, arg) {
		why = fmt.Sprintf("must be: func %s(%s *testing.%s)", fn.Name.Name, strings.ToLower(arg), arg)
	}
	if fn.Type.TypeParams.NumFields() > 0 {
		why = "test functions cannot have type parameters"
	}
	if why != "" {
		return fmt.Errorf("%s: wrong signature for %s, %s", t.fset.Position(fn.Pos()), fn.Name.Name, why)
	}
	return nil
}

// isTestFunc: no results, exactly one parameter (named once or not at all) of type *arg or
// *something.arg (the testing package may be imported under any name, or with a dot).
func isTestFunc(fn *ast.FuncDecl, arg string) bool {
	if fn.Type.Results != nil && len(fn.Type.Results.List) > 0 ||
		fn.Type.Params.List == nil ||
		len(fn.Type.Params.List) != 1 ||
		len(fn.Type.Params.List[0].Names) > 1 {
		return false
	}
	ptr, ok := fn.Type.Params.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	if name, ok := ptr.X.(*ast.Ident); ok && name.Name == arg {
		return true
	}
	if sel, ok := ptr.X.(*ast.SelectorExpr); ok && sel.Sel.Name == arg {
		return true
	}
	return false
}

// isTest: name is prefix, or prefix followed by anything but a lower-case letter.
func isTest(name, prefix string) bool {
	if !strings.HasPrefix(name, prefix) {
		return false
	}
	if len(name) == len(prefix) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(name[len(prefix):])
	return !unicode.IsLower(r)
}

// describe: one error per line, as the go command prints a file's syntax errors (at most ten).
func describe(err error) string {
	var list scanner.ErrorList
	if errors.As(err, &list) {
		lines := []string{}
		for i, e := range list {
			if i == 10 {
				lines = append(lines, fmt.Sprintf("(and %d more errors)", len(list)-10))
				break
			}
			lines = append(lines, e.Error())
		}
		return strings.Join(lines, "\n")
	}
	return err.Error()
}
