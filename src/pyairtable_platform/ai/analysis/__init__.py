"""Table analysis (POST /api/v1/analysis): not built yet; see docs/ai.md "Not done yet"."""
