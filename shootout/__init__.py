"""The model shootout: render the same shots with every candidate workflow and setting,
score each clip with the QC gate, and pick and lock the winner.

A tool built on the QC gate and the orchestrator's engines, so it sits above both
(``comfy_vidgen`` core <- ``orchestrator`` <- ``shootout``); ``vidgen shootout`` is
its command line.
"""
