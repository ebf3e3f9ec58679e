package anomalies_test

import (
	"os"
	"testing"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

func TestTmpSVG(t *testing.T) {
	r, _ := anomalies.WriteSkew.Run(mvcc.Snapshot, nil)
	os.WriteFile("/tmp/ws_tl.svg", []byte(anomalies.TimelineSVG(r.Outcome)), 0o644)
	os.WriteFile("/tmp/ws_g.svg", []byte(anomalies.GraphSVG(r.Outcome)), 0o644)
	r, _ = anomalies.ReadOnlyAnomaly.RunOn(anomalies.MVKVLocking(""), nil)
	os.WriteFile("/tmp/ro_tl.svg", []byte(anomalies.TimelineSVG(r.Outcome)), 0o644)
	r, _ = anomalies.ReadOnlyAnomaly.Run(mvcc.Snapshot, nil)
	os.WriteFile("/tmp/ro_g.svg", []byte(anomalies.GraphSVG(r.Outcome)), 0o644)
	r, _ = anomalies.PhantomWrite.Run(mvcc.ReadCommitted, nil)
	os.WriteFile("/tmp/pw_g.svg", []byte(anomalies.GraphSVG(r.Outcome)), 0o644)
}
