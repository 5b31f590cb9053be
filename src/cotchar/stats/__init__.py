"""Statistics of the study: power analysis now; models of the transcripts come with the compare stage."""
