package report_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/bench/report"
)

// chromium finds a headless-capable Chromium, or skips the test saying
// what to install.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("no Chromium on PATH: install Debian's chromium package (apt-get install -y chromium) to check that the HTML report renders")
	return ""
}

// renderedDOM loads page in headless Chromium and returns the DOM after
// the page's scripts ran.
func renderedDOM(t *testing.T, browser, page string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=5000", "--dump-dom", "file://"+page)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, stderr)
	return string(out)
}

// TestHTMLReportRendersInChromium opens the -report page in headless
// Chromium and checks that every chart was decoded and laid out, and that
// the tables and the mark of a violated invariant are there.
func TestHTMLReportRendersInChromium(t *testing.T) {
	browser := chromium(t)
	rep := sweepReport()
	charts, err := report.Charts(rep)
	require.NoError(t, err)
	require.NotEmpty(t, charts)
	page, err := report.WriteHTML(filepath.Join(t.TempDir(), "report"), rep)
	require.NoError(t, err)

	dom := renderedDOM(t, browser, page)
	m := regexp.MustCompile(`data-charts-rendered="(\d+)"`).FindStringSubmatch(dom)
	require.NotNil(t, m, "the page's script did not run")
	assert.Equal(t, strconv.Itoa(len(charts)), m[1], "charts rendered")
	for _, c := range charts {
		fig := regexp.MustCompile(`<figure id="` + regexp.QuoteMeta(c.Name) + `"><img [^>]*>`).FindString(dom)
		if assert.NotEmpty(t, fig, "chart %s missing", c.Name) {
			assert.Contains(t, fig, `data-rendered="yes"`, c.Name)
		}
	}
	assert.Contains(t, dom, "hotkey hot-keys=16, 8 threads")
	assert.Contains(t, dom, `<tr class="allowed">`)
	assert.Contains(t, dom, "too close to rank")
	assert.Equal(t, len(charts), strings.Count(dom, `class="chart"`))
}
