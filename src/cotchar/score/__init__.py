"""Scoring transcripts: the CoT voice index (`voice`) and the exact scorers of the world (`exact`)."""
