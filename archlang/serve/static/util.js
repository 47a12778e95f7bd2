// Small helpers shared by the page's modules. Text from the server goes into the DOM as text only.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) {
      node.setAttribute(key, value === true ? "" : value);
    }
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

export const shape = (dims) => dims.join("×");
export const count = (n) => n.toLocaleString("en-US");

export function human(n) {  // 25557032 -> "25.6 M", as in the diff
  for (const [size, unit] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "K"]])
    if (Math.abs(n) >= size) return `${Number((n / size).toPrecision(3))} ${unit}`;
  return String(n);
}

export function bytes(n) {
  for (const unit of ["B", "KiB", "MiB", "GiB"]) {
    if (n < 1024 || unit === "GiB") return unit === "B" ? `${n} B` : `${n.toFixed(1)} ${unit}`;
    n /= 1024;
  }
}

export const rf = (r) => (r[0] === r[1] ? String(r[0]) : `${r[0]}×${r[1]}`);

export function debounce(fn, ms) {
  let timer = null;
  const run = (...args) => { clearTimeout(timer); timer = setTimeout(() => { timer = null; fn(...args); }, ms); };
  run.cancel = () => clearTimeout(timer);
  return run;
}

// Every call to the server carries the page's token header only through the cookie; JSON in, JSON out.
export async function post(path, body) {
  const response = await fetch(path, {method: "POST", headers: {"content-type": "application/json"},
    body: JSON.stringify(body)});
  return response;
}
