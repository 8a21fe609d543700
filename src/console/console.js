// jobwire console: refreshes the parts of the page marked with data-src,
// every two seconds, with HTML the server drew (and escaped).
"use strict";
for (const part of document.querySelectorAll("[data-src]")) {
  setInterval(async () => {
    try {
      const response = await fetch(part.dataset.src, { credentials: "same-origin" });
      if (response.ok) part.innerHTML = await response.text();
    } catch (_) { /* the server is restarting: try again next time */ }
  }, 2000);
}
