"""Training the extractive answerer's sentence scorer and refusal threshold (issue 9)."""
