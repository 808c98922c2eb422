"""Variant effects: VCF records (:mod:`.vcf`), REF/ALT windows (:mod:`.windows`), zero-shot scores
(:mod:`.scoring`), the labelled-variant TSV (:mod:`.labels`), supervised heads (:mod:`.supervised`)
and the rule-labelled repeat benchmark (:mod:`.repeat_benchmark`)."""
