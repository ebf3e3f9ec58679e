package browser_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

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
