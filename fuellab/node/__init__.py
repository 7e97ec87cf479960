"""Nodes over SSH: the asyncssh server, the shell and the commands a node answers."""
