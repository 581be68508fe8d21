-- One database per service (each service applies its own migrations at start).
CREATE DATABASE events;
CREATE DATABASE catalogue;
CREATE DATABASE matching;
CREATE DATABASE notifications;
