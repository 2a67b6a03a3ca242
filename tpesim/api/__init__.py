"""The merchant (ECR) HTTP API: drive simulated terminals from a cash register."""
