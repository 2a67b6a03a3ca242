"""The MQTT broker tpesim runs: Mosquitto or amqtt, started and restarted (``launcher``), locked
down with one login per terminal and ACLs (``access``) over TLS (``certs``)."""
