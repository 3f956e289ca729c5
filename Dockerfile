# The openstackoid proxy in a container (docs/operations.md). Not built in CI here: no
# container daemon on the build machines; tests/test_deploy_files.py checks this file.
FROM python:3.11-slim
WORKDIR /opt/openstackoid
COPY pyproject.toml README.md LICENSE ./
COPY openstackoid ./openstackoid
COPY scope_dsl ./scope_dsl
COPY registry ./registry
COPY proxy ./proxy
COPY cli_plugin ./cli_plugin
COPY testbed ./testbed
RUN pip install --no-cache-dir . && useradd --system --uid 10001 openstackoid
USER 10001
# 8080: the clouds' users. 9090: /metrics and the admin API, to keep off public networks.
EXPOSE 8080 9090
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=5)"]
ENTRYPOINT ["openstackoid", "proxy"]
CMD ["--config", "/etc/openstackoid/proxy.yaml", "--host", "0.0.0.0", "--port", "8080", "--admin-host", "0.0.0.0", "--admin-port", "9090"]
