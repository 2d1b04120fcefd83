"""Cooperative meta-plan loop, agents and text environments.

Installed as ``promptopt.planners``; import it only under that name.
"""
