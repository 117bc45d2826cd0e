// How values read on screen. Money stays integer minor units: no float ever touches it.

const MINOR_DIGITS = { BHD: 3, JOD: 3, KWD: 3, OMR: 3, TND: 3, JPY: 0, KRW: 0, CLP: 0, ISK: 0, VND: 0 };

/** 12500 EUR → "125.00 EUR", by string arithmetic on the integer. */
export function money(amount, currency) {
  if (typeof amount !== "number" || !Number.isInteger(amount)) return String(amount);
  const digits = MINOR_DIGITS[currency] ?? 2;
  const sign = amount < 0 ? "-" : "";
  const text = String(Math.abs(amount)).padStart(digits + 1, "0");
  const whole = text.slice(0, text.length - digits).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const fraction = digits ? "." + text.slice(text.length - digits) : "";
  return `${sign}${whole}${fraction} ${currency ?? ""}`.trim();
}

/** An RFC 3339 instant in the operator's local time, to the second. */
export function time(value) {
  if (!value) return "–";
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, { hour12: false });
}

export function number(value, fractionDigits = 0) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString(undefined, {
    minimumFractionDigits: fractionDigits,
    maximumFractionDigits: fractionDigits,
  });
}

export function seconds(value) {
  if (value === null || value === undefined) return "–";
  if (value < 60) return `${number(value, value < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(value / 60);
  return `${minutes} min ${Math.round(value % 60)} s`;
}

/** An ISO instant as a datetime-local input's value (local time, to the second). */
export function localInput(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** A datetime-local input's value as an RFC 3339 instant in UTC. */
export function fromLocalInput(value) {
  return value ? new Date(value).toISOString() : "";
}

export function json(value) {
  return JSON.stringify(value, null, 2);
}

export function short(id) {
  return id ? String(id).slice(0, 8) : "–";
}
