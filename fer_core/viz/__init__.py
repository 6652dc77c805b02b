"""Plotly figure builders for the pages: they turn tables into figures and never compute metrics or show anything."""
