package browser_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/internal/browser"
)

func TestAttrReadsTheBody(t *testing.T) {
	dom := `<html><head></head><body class="x" data-pictures="4" data-links-broken="0"><p data-pictures="9"></p></body></html>`
	v, ok := browser.Attr(dom, "data-pictures")
	assert.True(t, ok)
	assert.Equal(t, "4", v, "the body's attribute, not a child's")
	v, ok = browser.Attr(dom, "data-links-broken")
	assert.True(t, ok)
	assert.Equal(t, "0", v)
	_, ok = browser.Attr(dom, "data-missing")
	assert.False(t, ok)
}

// fakeBrowser writes a script that crashes (kills itself with SIGSEGV)
// the first crashes times it runs, then prints a page, or, with fail,
// exits 1 instead; it counts its runs in a file.
func fakeBrowser(t *testing.T, crashes int, fail bool) (path, runs string) {
	t.Helper()
	dir := t.TempDir()
	path, runs = filepath.Join(dir, "browser"), filepath.Join(dir, "runs")
	last := `echo '<html><body data-ok="yes"></body></html>'`
	if fail {
		last = "echo broken >&2; exit 1"
	}
	script := fmt.Sprintf("#!/bin/sh\necho x >> %q\nif [ $(wc -l < %q) -le %d ]; then kill -SEGV $$; fi\n%s\n", runs, runs, crashes, last)
	require.NoError(t, os.WriteFile(path, []byte(script), 0o700))
	return path, runs
}

func runCount(t *testing.T, runs string) int {
	t.Helper()
	b, err := os.ReadFile(runs)
	require.NoError(t, err)
	return strings.Count(string(b), "\n")
}

// A browser that crashes is started again; one that fails otherwise, or
// keeps crashing, is an error.
func TestDumpDOMRetriesACrash(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("a shell script stands in for the browser")
	}
	b, runs := fakeBrowser(t, 2, false)
	dom, err := browser.DumpDOM(t.Context(), b, "/page.html", t.TempDir())
	require.NoError(t, err)
	v, _ := browser.Attr(dom, "data-ok")
	assert.Equal(t, "yes", v)
	assert.Equal(t, 3, runCount(t, runs), "two crashes, then the page")

	b, runs = fakeBrowser(t, 10, false)
	_, err = browser.DumpDOM(t.Context(), b, "/page.html", t.TempDir())
	require.ErrorContains(t, err, "crashed 3 times")
	assert.Equal(t, 3, runCount(t, runs))

	b, runs = fakeBrowser(t, 0, true)
	_, err = browser.DumpDOM(t.Context(), b, "/page.html", t.TempDir())
	require.ErrorContains(t, err, "broken")
	assert.Equal(t, 1, runCount(t, runs), "a failure that is no crash is not retried")
}
