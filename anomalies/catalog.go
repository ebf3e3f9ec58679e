package anomalies

// Catalog returns every lesson in teaching order: the dirty anomalies
// first, then lost update, the non-repeatable read, read skew (with the
// writes that close it) and phantoms, what snapshot isolation forbids,
// write skew, the read-only anomaly and its cycle through three
// transactions, each followed by the fixes users apply by hand.
func Catalog() []*Anomaly {
	return []*Anomaly{
		DirtyWrite,
		AbortedRead,
		IntermediateRead,
		CircularInformationFlow,
		ObservedTransactionVanishes,
		LostUpdate,
		LostUpdateFixedWithGetForUpdate,
		NonRepeatableRead,
		ReadSkew,
		ReadSkewPredicate,
		ReadSkewDelete,
		ReadSkewDeleteRolledBack,
		Phantom,
		PhantomWrite,
		Interference,
		MissedEffects,
		WriteSkew,
		WriteSkewFixedWithGetForUpdate,
		WriteSkewFixedByWritingReads,
		WriteSkewRange,
		WriteSkewRangeFixedByMaterializing,
		ReadOnlyAnomaly,
		TwoAntiDependencies,
	}
}
