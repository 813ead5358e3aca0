"""Evaluation of both products of the pipeline: instructions (captioners) and edits (editors).

`stats` holds the pure aggregation functions (means, rates, bootstrap intervals); `results` the one result
type every suite returns, which `report` turns into JSON, a Markdown table and plots.
"""
