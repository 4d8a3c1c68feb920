"""The Scrapy side of `just bench-crawl`: the same loopback web, the same politeness
(DOWNLOAD_DELAY and one request per domain at a time, set on the command line), robots.txt
obeyed, every response's raw body written to a JSON Lines feed (bytes kept as latin-1)."""

import scrapy


class BenchSpider(scrapy.Spider):
    name = "bench"

    def __init__(self, hosts_file=None, **kwargs):
        super().__init__(**kwargs)
        with open(hosts_file) as f:
            self.start_urls = [f"http://{h.strip()}/list/1.html" for h in f if h.strip()]

    def parse(self, response):
        yield {"url": response.url, "status": response.status, "body": response.body.decode("latin-1")}
        for href in response.css("a::attr(href)").getall():
            if "/list/" in href or "/a/" in href:
                yield response.follow(href, self.parse)
