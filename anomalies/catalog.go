package anomalies

// Catalog returns every lesson in teaching order: the dirty anomalies
// first, then lost update, read skew and phantoms, write skew, the
// read-only anomaly, each followed by the fixes users apply by hand.
func Catalog() []*Anomaly {
	return []*Anomaly{
		DirtyWrite,
		AbortedRead,
		IntermediateRead,
		CircularInformationFlow,
		ObservedTransactionVanishes,
		LostUpdate,
		LostUpdateFixedWithGetForUpdate,
		ReadSkew,
		ReadSkewPredicate,
		Phantom,
		WriteSkew,
		WriteSkewFixedWithGetForUpdate,
		WriteSkewFixedByWritingReads,
		WriteSkewRange,
		WriteSkewRangeFixedByMaterializing,
		ReadOnlyAnomaly,
	}
}
