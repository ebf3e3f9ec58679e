package anomalies_test

import (
	"fmt"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

// A scenario of your own: two deposits that read, add and write back, at
// read committed.
func Example() {
	sc := &anomalies.Scenario{
		Setup: []anomalies.KV{{Key: "balance", Value: "100"}},
		Steps: []anomalies.Step{
			anomalies.Read("T1", "balance"),
			anomalies.Read("T2", "balance"),
			anomalies.Add("T1", "balance", 50),
			anomalies.Add("T2", "balance", 20),
			anomalies.Commit("T1"),
			anomalies.Commit("T2"),
		},
	}
	o, err := anomalies.Run(sc, mvcc.ReadCommitted, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(anomalies.Timeline(o))
	fmt.Println("balance:", o.Get("balance"))
	// Output:
	// step   T1                             T2
	// ----   -----------------------------  -----------------------------
	//    1   begin; read balance → 100
	//    2                                  begin; read balance → 100
	//    3   write balance = read+50 → 150
	//    4                                  write balance = read+20 → 120
	//    5   commit → ok
	//    6                                  commit → ok
	// balance: 120
}

// Running a lesson of the catalog and reading its verdict.
func ExampleAnomaly_Run() {
	for _, level := range anomalies.Levels {
		r, err := anomalies.WriteSkew.Run(level, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-15v %s\n", level, r.Cell())
	}
	// Output:
	// read-committed  **possible**
	// snapshot        **possible**
	// serializable    prevented (aborts)
}
