"""The web page (GET /ui/) in a real browser: headless Chromium driven by chromium-driver
through Selenium, against real peers on loopback. The page loads without console errors,
lists the peer's files, finds a file another peer holds and downloads it byte-exact from
that peer, uploads through the file input (asking for the token) and by a drop on the
page, shows a hostile file name as text, and fits a phone's width. A screenshot is left in the build folder
(test-artifacts/web_ui*.png)."""
import hashlib
import os
import shutil
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from peerlib import BUILD, Peer, cleanup_all, listed, wait_until  # noqa: E402

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
except ImportError:  # scripts/setup installs python3-selenium
    webdriver = None

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
XSS = "<img src=x onerror=alert(1)>.txt"
ARTIFACTS = os.path.join(BUILD, "test-artifacts")


def browser(download_dir):
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,1000", "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {"download.default_directory": download_dir,
                                           "download.prompt_for_download": False,
                                           "safebrowsing.enabled": False})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": download_dir})
    driver.set_page_load_timeout(30)
    return driver


def wait_for(driver, css, pred=lambda els: bool(els), timeout=15):
    """The elements matching `css` once pred(elements) holds; fails after `timeout` s. The
    page redraws its tables (every few seconds, and after an upload): an element that went
    stale while pred read it means "look again"."""
    found = []

    def check():
        try:
            found[:] = driver.find_elements(By.CSS_SELECTOR, css)
            return pred(found)
        except StaleElementReferenceException:
            return False
    assert wait_until(check, timeout, 0.05), f"{css}: not there within {timeout} s"
    return list(found)


def texts(driver, css):
    """The texts of the elements matching `css`, read from one drawing of the page."""
    result = []

    def read():
        result[:] = [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]
        return True
    wait_for(driver, css, lambda _: read())
    return result


@unittest.skipIf(webdriver is None, "python3-selenium is not installed")
class WebPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.remote_data = hashlib.sha256(b"remote").digest() * 40000  # 1.25 MiB
        cls.remote = Peer("Remote", files={"remoto.bin": cls.remote_data}).start()
        cls.peer = Peer("Home", files={"documento1.txt": "hola", XSS: "not html", "ñandú.txt": "ñ"},
                        extra={"upload_token": "t0k",
                               "peer_titular": cls.remote.url, "timeout_ms": 2000}).start()
        cls.downloads = tempfile.mkdtemp(prefix="p2p-ui-dl-")
        cls.driver = browser(cls.downloads)
        os.makedirs(ARTIFACTS, exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.driver.quit()
        finally:
            try:
                cleanup_all([cls.peer, cls.remote])
            finally:
                shutil.rmtree(cls.downloads, ignore_errors=True)

    def open_page(self):
        self.driver.get(self.peer.url + "/")
        self.assertTrue(self.driver.current_url.endswith("/ui/"), self.driver.current_url)
        wait_for(self.driver, "#files tbody tr", lambda rows: len(rows) >= 3)

    def severe_console_entries(self):
        return [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def test_1_page_loads_clean_and_lists_the_files_with_names_as_text(self):
        self.open_page()
        names = texts(self.driver, "#files tbody td:first-child a")
        self.assertIn("documento1.txt", names)
        self.assertIn("ñandú.txt", names)
        # The hostile name is shown as its text; no element came out of it, no script ran.
        self.assertIn(XSS, names)
        self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, "img"), [])
        with self.assertRaises(NoAlertPresentException):
            self.driver.switch_to.alert.text
        # Its link is to the name, percent-encoded.
        wait_for(self.driver, "#files tbody td:first-child a", lambda links: any(
            a.text == XSS and a.get_attribute("href").endswith("/archivos/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E.txt")
            for a in links))
        wait_for(self.driver, "#peer-name", lambda e: e[0].text == "Home")
        # The known peers and the transfers view fill in.
        wait_for(self.driver, "#peers tbody tr")
        wait_for(self.driver, "#transfers-now", lambda e: "in flight" in e[0].text)
        self.assertEqual(self.severe_console_entries(), [])
        self.driver.save_screenshot(os.path.join(ARTIFACTS, "web_ui.png"))

    def test_2_a_search_finds_another_peers_file_and_its_link_downloads_it(self):
        self.open_page()
        box = self.driver.find_element(By.ID, "search-name")
        box.clear()
        box.send_keys("remoto.bin")
        self.driver.find_element(By.CSS_SELECTOR, "#search-form button").click()
        rows = wait_for(self.driver, "#search-results tbody tr")
        links = [a for r in rows for a in r.find_elements(By.TAG_NAME, "a")]
        remote_links = [a for a in links if a.get_attribute("href").startswith(self.remote.url + "/archivos/")]
        self.assertTrue(remote_links, [a.get_attribute("href") for a in links])
        remote_links[0].click()
        target = os.path.join(self.downloads, "remoto.bin")
        self.assertTrue(wait_until(lambda: os.path.exists(target) and not any(
            n.endswith(".crdownload") for n in os.listdir(self.downloads)), 30, 0.1), os.listdir(self.downloads))
        with open(target, "rb") as f:
            self.assertEqual(f.read(), self.remote_data)
        self.assertEqual(self.severe_console_entries(), [])

    def test_3_an_upload_asks_for_the_token_and_lands_in_the_share(self):
        self.open_page()
        src = os.path.join(self.downloads, "subida.bin")
        data = os.urandom(300_000)
        with open(src, "wb") as f:
            f.write(data)
        self.driver.find_element(By.ID, "upload-input").send_keys(src)
        # Without the token the peer says 401, and the page asks for it.
        wait_for(self.driver, "#token-box", lambda e: e[0].is_displayed())
        self.driver.find_element(By.ID, "token").send_keys("t0k")
        self.driver.find_element(By.ID, "token-retry").click()
        wait_for(self.driver, "#uploads li", lambda items: "stored" in items[0].text)
        stored = os.path.join(self.peer.dir, "subida.bin")
        with open(stored, "rb") as f:
            self.assertEqual(f.read(), data)
        wait_for(self.driver, "#files tbody td:first-child a",
                 lambda links: "subida.bin" in [a.text for a in links])
        # The page knew from /health that a token is needed, and asked before sending.
        self.assertEqual(self.severe_console_entries(), [])
        # A name the peer has is not sent at all (a browser cannot wait for 100 Continue:
        # a refusal after the body started would cost the whole body).
        again = os.path.join(self.downloads, "documento1.txt")
        with open(again, "wb") as f:
            f.write(b"otra")
        self.driver.find_element(By.ID, "upload-input").send_keys(again)
        wait_for(self.driver, "#uploads li", lambda items: "not sent" in items[0].text)
        with open(os.path.join(self.peer.dir, "documento1.txt"), "rb") as f:
            self.assertEqual(f.read(), b"hola")

    def test_4_a_file_dropped_on_the_page_is_uploaded(self):
        self.open_page()
        # What a drag from the desktop delivers: a drop event carrying a File.
        self.driver.execute_script("""
            const dt = new DataTransfer();
            dt.items.add(new File(["dropped bytes\\n"], "arrastrado.txt", {type: "text/plain"}));
            const zone = document.getElementById("drop-zone");
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
        """)
        wait_for(self.driver, "#token-box", lambda e: e[0].is_displayed())
        self.driver.find_element(By.ID, "token").send_keys("t0k")
        self.driver.find_element(By.ID, "token-retry").click()
        wait_for(self.driver, "#uploads li", lambda items: "stored" in items[0].text)
        with open(os.path.join(self.peer.dir, "arrastrado.txt"), "rb") as f:
            self.assertEqual(f.read(), b"dropped bytes\n")

    def test_5_the_page_fits_a_phone_and_is_small(self):
        self.driver.set_window_size(390, 844)
        try:
            self.open_page()
            width = self.driver.execute_script("return document.documentElement.scrollWidth")
            inner = self.driver.execute_script("return window.innerWidth")
            self.assertLessEqual(width, inner)
            self.driver.save_screenshot(os.path.join(ARTIFACTS, "web_ui_phone.png"))
        finally:
            self.driver.set_window_size(1280, 1000)
        total = 0
        for path in ("/ui/", "/ui/app.js", "/ui/app.css"):
            with urllib.request.urlopen(self.peer.url + path, timeout=5) as r:
                body = r.read()
                total += len(body)
                csp = r.headers["Content-Security-Policy"]
                self.assertIn("script-src 'self'", csp)
                self.assertNotIn("unsafe-inline", csp)
                self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
                self.assertIsNone(r.headers["Access-Control-Allow-Origin"])
        self.assertLessEqual(total, 50_000)


if __name__ == "__main__":
    unittest.main()
