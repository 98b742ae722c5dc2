// The dashboard: reads the verifier's API every few seconds and draws what it says.
// Every value from the API goes into the page as text (never as HTML): gateway ids,
// topics and quarantine details can come from whoever published a batch.

const REFRESH_MS = 2000;
const MAX_DEVICE_GATEWAYS = 25;
const WINDOW_S = 300;
const STEP_S = 5;
const TOKEN_KEY = "edgeseal-console-token";
const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#1a73e8", "#e8710a", "#188038", "#9334e6", "#c5221f", "#12b5cb", "#f9ab00"];

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// -- the token: from the URL's fragment (never sent to the server), kept for the tab --

function takeToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

class Unauthorized extends Error {}

async function api(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(`/api/v1/${path}`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (response.status === 401 || response.status === 403) throw new Unauthorized(body.error);
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

// -- formatting -------------------------------------------------------------------------

function ago(us, nowUs) {
  if (us === null || us === undefined) return "never";
  const s = Math.max(0, (nowUs - us) / 1e6);
  if (s < 60) return `${s.toFixed(0)} s ago`;
  if (s < 3600) return `${(s / 60).toFixed(0)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}
const short = (hex) => (hex ? `${hex.slice(0, 12)}…` : "-");
const clock = (us) => new Date(us / 1000).toLocaleTimeString();

// -- drawing ----------------------------------------------------------------------------

function drawChart(throughput) {
  const box = $("chart");
  const width = 1100, height = 200, left = 44, bottom = 22, top = 10;
  const series = throughput.series;
  const n = WINDOW_S / STEP_S;
  const totals = Array.from({ length: n }, (_, i) => series.reduce((s, g) => s + g.readings[i], 0));
  const max = Math.max(10, ...totals);
  const x = (i) => left + (i * (width - left - 8)) / (n - 1);
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "readings accepted over time" });
  for (const frac of [0, 0.5, 1]) {
    const v = Math.round(max * frac);
    chart.append(svg("line", { x1: left, x2: width - 8, y1: y(v), y2: y(v), stroke: "#e0e0e0" }));
    chart.append(svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#5f6368" }, String(v)));
  }
  for (const [label, i] of [[`-${WINDOW_S / 60} min`, 0], ["now", n - 1]]) {
    chart.append(svg("text", { x: x(i), y: height - 6, "text-anchor": i ? "end" : "start", "font-size": 11, fill: "#5f6368" }, label));
  }
  const area = totals.map((v, i) => `${x(i)},${y(v)}`).join(" ");
  chart.append(svg("polygon", { points: `${x(0)},${y(0)} ${area} ${x(n - 1)},${y(0)}`, fill: "#d2e3fc" }));
  series.forEach((g, k) => {
    const points = g.readings.map((v, i) => `${x(i)},${y(v)}`).join(" ");
    chart.append(svg("polyline", { points, fill: "none", stroke: COLORS[k % COLORS.length], "stroke-width": 2, "data-gateway": g.gateway_id }));
    chart.append(svg("text", { x: left + 8, y: top + 14 + 14 * k, "font-size": 12, fill: COLORS[k % COLORS.length] }, g.gateway_id));
  });
  box.replaceChildren(chart);
  return totals.reduce((a, b) => a + b, 0);
}

function drawGateways(gateways, nowUs) {
  const rows = gateways.map((g) => el("tr", { "data-gateway": g.gateway_id },
    el("td", { class: "mono" }, g.gateway_id, g.enrolled ? "" : " (not enrolled)"),
    el("td", {}, el("span", { class: `badge state state-${g.chain_state}` }, g.chain_state)),
    el("td", {}, el("span", { class: `badge status status-${g.status.state}`, title: g.status.reason || "" }, g.status.state)),
    el("td", { class: "head-seq" }, g.head_seq),
    el("td", {}, ago(g.last_batch_us, nowUs)),
    el("td", { class: "rate" }, g.readings_per_s.toFixed(1)),
    el("td", {}, g.held ? `${g.held}, waiting for seq ${g.waiting_for_seq}` : "0"),
    el("td", { class: "mono", title: `current ${g.current_key || "-"}\nenrolled ${g.enrolled_key || "-"}` },
      short(g.current_key), g.current_key && g.current_key !== g.enrolled_key ? " (rotated)" : ""),
  ));
  $("gateways").tBodies[0].replaceChildren(...rows);
}

function drawQuarantine(q, nowUs) {
  $("quarantine-total").textContent = q.total;
  const entries = Object.entries(q.by_reason).sort((a, b) => b[1] - a[1]);
  const max = Math.max(1, ...entries.map(([, n]) => n));
  $("quarantine-reasons").replaceChildren(
    ...(entries.length
      ? entries.map(([reason, n]) => el("li", { "data-reason": reason },
          el("span", { class: "mono" }, reason),
          el("span", {}, el("span", { class: "bar", style: `width:${(100 * n) / max}%` })),
          el("span", { class: "count" }, n)))
      : [el("li", { class: "muted" }, "nothing quarantined")]),
  );
  $("quarantine-latest").tBodies[0].replaceChildren(...q.latest.map((item) => el("tr", { "data-reason": item.reason },
    el("td", { title: clock(item.received_us) }, ago(item.last_received_us ?? item.received_us, nowUs)),
    el("td", { class: "mono" }, item.gateway_id ?? "(none)"),
    el("td", {}, item.seq ?? "-"),
    el("td", { class: "mono" }, item.reason, item.times_seen > 1 ? ` ×${item.times_seen}` : ""),
    el("td", { class: "detail" }, item.detail),
  )));
}

function drawDevices(perGateway) {
  const rows = [];
  for (const d of perGateway) {
    for (const a of d.boots) {
      const lost = a.lost_by_reason.map((l) => `${l.readings} ${l.reason}`).join(", ") || "0";
      const open = a.gaps.filter((g) => !g.reported).reduce((n, g) => n + g.last_seq - g.first_seq + 1, 0);
      rows.push(el("tr", { "data-device": `${d.gateway_id}/${a.device_id}/${a.boot_id}` },
        el("td", { class: "mono" }, d.gateway_id), el("td", {}, a.device_id), el("td", {}, a.boot_id),
        el("td", { class: "accepted" }, a.stored), el("td", {}, `1..${a.last_seq}`),
        el("td", { class: "lost" }, lost),
        el("td", { class: "gaps" }, String(a.unexplained_readings) + (open ? ` (+${open} open)` : "")),
        el("td", { class: "status" }, el("span", { class: `badge account account-${a.status}` }, a.status))));
    }
  }
  $("devices").tBodies[0].replaceChildren(...rows);
  const none = perGateway.find((d) => !d.accounts_kept);
  if (none) $("devices-note").textContent = "this store keeps no completeness accounts yet (a verifier upgrades it when it opens it)";
}

// -- refreshing -------------------------------------------------------------------------

let timer = null;

async function refresh() {
  try {
    const [gw, tp, q] = await Promise.all([
      api("gateways"),
      api(`throughput?window_s=${WINDOW_S}&step_s=${STEP_S}`),
      api("quarantine?latest=10"),
    ]);
    // Devices of the first MAX_DEVICE_GATEWAYS gateways only: one request each, every refresh.
    const shown = gw.gateways.slice(0, MAX_DEVICE_GATEWAYS);
    const devices = await Promise.all(shown.map((g) => api(`gateways/${encodeURIComponent(g.gateway_id)}/devices`)));
    $("devices-note").textContent = gw.gateways.length > shown.length
      ? `devices of the first ${shown.length} of ${gw.gateways.length} gateways; the API has every one (gateways/{id}/devices)`
      : "";
    const nowUs = tp.now_us;
    $("readings-total").textContent = drawChart(tp);
    $("rate").textContent = gw.gateways.reduce((s, g) => s + g.readings_per_s, 0).toFixed(1);
    $("gateway-count").textContent = gw.gateways.length;
    drawGateways(gw.gateways, nowUs);
    drawQuarantine(q, nowUs);
    drawDevices(devices);
    $("error").hidden = true;
    $("refreshed").textContent = `updated ${clock(nowUs)}`;
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  } catch (err) {
    if (err instanceof Unauthorized) {
      sessionStorage.removeItem(TOKEN_KEY);
      askForToken(err.message);
      return;
    }
    $("error").hidden = false;
    $("error").textContent = `cannot refresh: ${err.message}`;
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

function askForToken(message) {
  clearTimeout(timer);
  $("token-form").hidden = false;
  $("token-error").textContent = message || "";
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token-form").hidden = true;
  refresh();
});

$("receipt-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const gw = $("receipt-gateway").value.trim(), dev = $("receipt-device").value.trim(), seq = $("receipt-seq").value.trim();
  const boot = $("receipt-boot").value.trim();
  $("receipt-error").textContent = "";
  try {
    const receipt = await api(`receipts/${encodeURIComponent(gw)}/${encodeURIComponent(dev)}/${encodeURIComponent(seq)}${boot ? `?boot=${encodeURIComponent(boot)}` : ""}`);
    const link = el("a", {
      href: URL.createObjectURL(new Blob([JSON.stringify(receipt, null, 2) + "\n"], { type: "application/json" })),
      download: `receipt-${gw}-${dev}-${seq}.json`,
    });
    document.body.append(link);
    link.click();
    link.remove();
  } catch (err) {
    $("receipt-error").textContent = err.message;
  }
});

if (takeToken()) refresh();
else askForToken("");
