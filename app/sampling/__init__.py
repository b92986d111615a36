"""Sampling plans, reproducible stratified draws, assignment and inspector queues (DESIGN §4)."""
