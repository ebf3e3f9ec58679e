package crossengine

import "github.com/mvkv/mvkv/anomalies"

// Lesson says what engine does about a, where that is worth saying: the
// anomalies package's lessons explain mvkv.
func Lesson(a *anomalies.Anomaly, engine string) string {
	return lessons[engine][a.Test]
}

var lessons = map[string]map[string]string{}
