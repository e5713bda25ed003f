"""The practitioner's labelling loop: export a pool, import a person's labels, pick the next batch."""
