# The tpesim image: switch, terminals and the CLI (the broker runs in its own container).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cards cards
COPY switch switch
COPY terminal terminal
COPY tpesim tpesim
RUN pip install --no-cache-dir .
ENTRYPOINT ["tpesim"]
