"""The gene-based SNV benchmark: Prodigal genes and SNV consequences (:mod:`.consequences`), the
benchmark's VCF and labels (:mod:`.benchmark`), its metrics (:mod:`.metrics`) and report
(:mod:`.report`), and a related species as a conservation reference and relative track
(:mod:`.homologs`)."""
