# helm test podlab: an installed release, end to end, as a user would use it, with the
# scoped token of the hub service podlab-helm-test (hub/src/podlab/helm_test.py).
# Arguments: the proxy's URL, MLflow's URL. Token: $PODLAB_HELM_TEST_TOKEN.
import json
import os
import sys
import time
import urllib.error
import urllib.request

proxy, mlflow = sys.argv[1].rstrip("/"), sys.argv[2].rstrip("/")
token = os.environ["PODLAB_HELM_TEST_TOKEN"]
user = "podlab-helm-test"


def call(method, url, body=None, expect=(200,), tries=30, auth=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Authorization": f"token {auth or token}"})
    for attempt in range(tries):
        try:
            # A spawn request answers after up to 10 s (JupyterHub's slow_spawn_timeout).
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode(errors="replace")
        except OSError as err:
            print(f"{method} {url}: {err} (attempt {attempt + 1}/{tries})", flush=True)
            time.sleep(2)
            continue
        if status not in expect:
            sys.exit(f"FAIL: {method} {url} answered {status} {text[:300]!r}, expected {expect}")
        print(f"OK: {method} {url} -> {status}", flush=True)
        return text
    sys.exit(f"FAIL: {method} {url} did not answer; check the pods and the NetworkPolicies")


hub = f"{proxy}/hub/api"
print("hub", json.loads(call("GET", f"{hub}/"))["version"])
call("GET", f"{hub}/users/{user}")
call("GET", f"{hub}/users", expect=(403,))  # the token sees its test user, nobody else
call("POST", f"{hub}/users/{user}/server", body={}, expect=(201, 202, 400))
deadline = time.monotonic() + float(os.environ.get("PODLAB_HELM_TEST_SPAWN_TIMEOUT", "300"))
while time.monotonic() < deadline:
    server = json.loads(call("GET", f"{hub}/users/{user}")).get("servers", {}).get("")
    if server and server.get("ready"):
        break
    if not server:
        sys.exit("FAIL: the test user's server failed to start: see the hub's log")
    time.sleep(3)
else:
    sys.exit("FAIL: the test user's server did not become ready; see the hub's log")
call("GET", f"{proxy}/user/{user}/api/status")
call("DELETE", f"{hub}/users/{user}/server", expect=(202, 204))
print("mlflow", call("GET", f"{mlflow}/health"))
# MLflow takes users' tokens: a short-lived one of the test user, for the mlflow service only.
minted = json.loads(call("POST", f"{hub}/users/{user}/tokens", expect=(200, 201), body={
    "scopes": ["access:services!service=mlflow"], "expires_in": 600, "note": "helm test"}))
user_token = minted["token"]
call("GET", f"{hub}/users", expect=(403,), auth=user_token)  # still not an admin
call("GET", f"{mlflow}/api/2.0/mlflow/experiments/search?max_results=1", auth=user_token)
page = call("GET", f"{proxy}/services/mlflow/", auth=user_token)
if "<html" not in page.lower():
    sys.exit(f"FAIL: the MLflow UI answered {page[:200]!r}")
call("DELETE", f"{hub}/users/{user}/tokens/{minted['id']}", expect=(204,))
print("OK: helm test podlab passed")
