package mvcc_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// The README's first snippet, as a program that runs: the lines between
// the markers are the README's, as TestReadmeSnippet checks.
func Example_readme() {
	dir, err := os.MkdirTemp("", "mvkv-readme-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.db")

	// README:begin
	db, err := mvcc.Open(path, nil) // durable commits by default
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	err = db.Update(ctx, mvcc.Serializable, func(tx *mvcc.Txn) error {
		return tx.Put([]byte("user/1"), []byte("ada"))
	})
	if err != nil {
		log.Fatal(err)
	}
	err = db.View(ctx, func(tx *mvcc.Txn) error {
		for k, v := range tx.ScanPrefix([]byte("user/")) {
			fmt.Printf("%s=%s\n", k, v)
		}
		return tx.Err()
	})
	if err != nil {
		log.Fatal(err)
	}
	// README:end

	// Output: user/1=ada
}

// The README's snippet is the example's code, line for line.
func TestReadmeSnippet(t *testing.T) {
	src, err := os.ReadFile("readme_example_test.go")
	require.NoError(t, err)
	s := string(src)
	body := s[strings.Index(s, "// README:begin\n")+len("// README:begin\n") : strings.Index(s, "\t// README:end")]
	var want []string
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		want = append(want, strings.TrimPrefix(line, "\t"))
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	r := string(readme)
	const marker = "<!-- snippet: mvcc/readme_example_test.go"
	i := strings.Index(r, marker)
	require.GreaterOrEqual(t, i, 0, "README lost its snippet marker")
	block := r[i:]
	block = block[strings.Index(block, "```go\n")+len("```go\n"):]
	block = block[:strings.Index(block, "```")]
	require.Equal(t, strings.Join(want, "\n"), strings.TrimRight(block, "\n"))
}
