"""Tests of netpol_check.py: the rendered NetworkPolicies give the platform's reachability table,
and the planted mistakes are reported: hash-service's policy without the agent's rule (the
promotion checks blocked) and the agent's policy admitting ingress-nginx instead of Envoy
Gateway, auxiliary-service admitting the wrong client, main-api's egress aimed at the wrong namespace,
and the EKS CNI without its network policy agent (issue 27, defect 3); plus the
evaluation rules themselves, as a table.

    .tools/venv/bin/python -m unittest scripts/lib/netpol_check_test.py   (scripts/checks/netpol.sh)
"""
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(HERE, "fixtures", "netpol")
HELM = os.path.join(ROOT, ".tools", "bin", "helm")
sys.path.insert(0, HERE)

import netpol_check  # noqa: E402


class NetpolCheck(unittest.TestCase):
    def test_the_platform_meets_its_reachability_table(self):
        self.assertEqual(netpol_check.check(ROOT, HELM), [])

    def test_a_policy_without_the_agents_rule_blocks_the_promotion_checks(self):
        problems = netpol_check.check(
            ROOT, HELM, extra_values={"hash-service": [os.path.join(FIXTURES, "no-agent-rule.yaml")]})
        self.assertEqual(problems, [
            f"{env}: agent -> hash-service (promotion checks): denied, must be allowed "
            "(ingress denied by hash-service/hash-service)" for env in ("local", "dev", "prod")])

    def test_an_auxiliary_service_policy_naming_the_wrong_client_shuts_main_out_and_lets_it_in(self):
        problems = netpol_check.check(
            ROOT, HELM, extra_values={"auxiliary-service": [os.path.join(FIXTURES, "aux-wrong-client.yaml")]})
        self.assertEqual(problems, [p for env in ("dev", "prod") for p in (
            f"{env}: main-api -> auxiliary-service: denied, must be allowed "
            "(ingress denied by auxiliary-service/auxiliary-service)",
            f"{env}: any other pod -> auxiliary-service: allowed, must be denied "
            "(auxiliary-service/auxiliary-service)")])

    def test_a_main_api_policy_without_aux_egress_cuts_main_off_its_dependency(self):
        problems = netpol_check.check(
            ROOT, HELM, extra_values={"main-api": [os.path.join(FIXTURES, "main-egress-wrong-namespace.yaml")]})
        self.assertEqual(problems, [
            f"{env}: main-api -> auxiliary-service: denied, must be allowed (egress denied by main-api/main-api)"
            for env in ("dev", "prod")])

    def test_an_agent_policy_admitting_ingress_nginx_only_drops_the_gateways_webhook(self):
        with tempfile.TemporaryDirectory() as tmp:
            for f in os.listdir(os.path.join(ROOT, "manifests")):
                if f.endswith(".yaml"):
                    shutil.copy(os.path.join(ROOT, "manifests", f), tmp)
            shutil.copy(os.path.join(FIXTURES, "08-networkpolicy-ingress-nginx-only.yaml"),
                        os.path.join(tmp, "08-networkpolicy.yaml"))
            problems = netpol_check.check(ROOT, HELM, manifests_dir=tmp)
        self.assertEqual(problems, [
            f"{env}: gateway -> agent (GitHub webhook): denied, must be allowed "
            "(ingress denied by sextant-system/sextant)" for env in ("dev", "prod")])

    def test_an_eks_cni_without_network_policy_is_reported(self):
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(os.path.join(ROOT, "infra"), os.path.join(tmp, "infra"))
            self.assertTrue(netpol_check.enforced(tmp))
            main = os.path.join(tmp, netpol_check.EKS_ADDONS)
            with open(main, encoding="utf-8") as f:
                text = f.read()
            planted = "\n".join(l for l in text.splitlines() if "configuration_values" not in l) + "\n"
            self.assertNotEqual(planted, text)
            with open(main, "w", encoding="utf-8") as f:
                f.write(planted)
            self.assertFalse(netpol_check.enforced(tmp))

    def test_peers_and_ports_follow_the_api(self):
        pod = {"ns": "a", "labels": {"app": "x"}, "ports": {"http": 8080}}
        cases = [
            # (peer entry, the policy's namespace, matches)
            ({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "a"}}}, "b", True),
            ({"podSelector": {"matchLabels": {"app": "x"}}}, "b", False),  # podSelector alone: the policy's namespace
            ({"podSelector": {"matchLabels": {"app": "x"}}}, "a", True),
            ({"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "y"}}}, "b", False),
            ({"namespaceSelector": {}, "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["x"]}]}}, "b", True),
            ({"ipBlock": {"cidr": "0.0.0.0/0"}}, "a", False),
        ]
        for peer, ns, want in cases:
            self.assertEqual(netpol_check.peer_matches(peer, ns, pod), want, peer)
        ports = [
            ([], True), ([{"port": "http"}], True), ([{"port": 8080}], True),
            ([{"port": 9090}], False), ([{"port": "http", "protocol": "UDP"}], False),
        ]
        for p, want in ports:
            self.assertEqual(netpol_check.port_matches(p, "http", pod), want, p)


if __name__ == "__main__":
    unittest.main()
