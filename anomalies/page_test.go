package anomalies_test

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/internal/browser"
)

var pageOptions = anomalies.PageOptions{
	Title: "mvkv: anomalies, level by level",
	Intro: "Every classic concurrency anomaly replayed as a scripted interleaving at each isolation " +
		"level of mvkv. Each cell of the table links to its run: the timeline, the dependency graph " +
		"of the committed transactions, the data left behind and the verdict.",
}

// allResults is every lesson at every column, reusing the lessons' runs.
func allResults(t *testing.T) []*anomalies.Result {
	var all []*anomalies.Result
	for _, a := range append(anomalies.Catalog(), anomalies.Deadlock) {
		for _, level := range anomalies.Levels {
			all = append(all, recordedOrRun(t, a, level))
		}
		all = append(all, recordedOrRunLocking(t, a))
	}
	return all
}

// TestHTMLPage checks the page's structure without a browser: a table
// cell for every run, linking to a section with the run's two pictures,
// and every link finding its target.
func TestHTMLPage(t *testing.T) {
	all := allResults(t)
	var buf bytes.Buffer
	require.NoError(t, anomalies.WriteHTML(&buf, all, pageOptions))
	page := buf.String()

	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(` id="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		assert.False(t, ids[m[1]], "id %s twice", m[1])
		ids[m[1]] = true
	}
	hrefs := regexp.MustCompile(` href="([^"]+)"`).FindAllStringSubmatch(page, -1)
	require.NotEmpty(t, hrefs)
	for _, m := range hrefs {
		require.True(t, strings.HasPrefix(m[1], "#"), "link %s leaves the page", m[1])
		assert.True(t, ids[m[1][1:]], "link %s has no target", m[1])
	}
	assert.Equal(t, 2*len(all), strings.Count(page, `<svg xmlns="http://www.w3.org/2000/svg" class="picture"`), "two pictures per run")
	for _, r := range all {
		id := r.Anomaly.Test + "--" + strings.ReplaceAll(r.Outcome.Target, " ", "-")
		assert.Contains(t, page, `<a href="#`+id+`">`, "the table links to %s", id)
		assert.Contains(t, page, `<section class="run" id="`+id+`">`)
	}
	assert.NotContains(t, page, "<script src", "self-contained")
	assert.NotContains(t, page, "<link ", "self-contained")
}

// TestHTMLPageRendersInChromium opens the page in headless Chromium and
// checks that every picture was laid out with a size and every link
// resolves. It skips where no Chromium is installed.
func TestHTMLPageRendersInChromium(t *testing.T) {
	chromium, err := browser.Find()
	if err != nil {
		t.Skip(err.Error())
	}
	all := allResults(t)
	page, err := anomalies.WriteHTMLFile(t.TempDir(), "anomalies.html", all, pageOptions)
	require.NoError(t, err)
	requireRenders(t, chromium, page, 2*len(all))
}

// requireRenders checks the page's own report, from its script, of what
// the browser laid out and resolved.
func requireRenders(t *testing.T, chromium, page string, pictures int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	dom, err := browser.DumpDOM(ctx, chromium, page, t.TempDir())
	require.NoError(t, err)
	attr := func(name string) string {
		v, ok := browser.Attr(dom, name)
		require.True(t, ok, "the page's script did not set %s", name)
		return v
	}
	assert.Equal(t, strconv.Itoa(pictures), attr("data-pictures"))
	assert.Equal(t, strconv.Itoa(pictures), attr("data-pictures-rendered"), "pictures laid out with a size")
	assert.NotEqual(t, "0", attr("data-links"))
	assert.Equal(t, "0", attr("data-links-broken"), "links without a target")
	assert.NotContains(t, dom, `data-rendered="no"`)
}
