"""Fixtures of the deployment test: the services it starts (see `deploy_services`)."""

from deploy_services import deployment, news_site, postgres, redis_url, webhook

__all__ = ["deployment", "news_site", "postgres", "redis_url", "webhook"]
