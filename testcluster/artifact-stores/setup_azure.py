"""Creates the test container in Azurite with the account's Shared Key."""
import sys

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient

endpoint, account, key, container = sys.argv[1:5]
service = BlobServiceClient(account_url=endpoint, credential={"account_name": account, "account_key": key})
try:
    service.create_container(container)
except ResourceExistsError:
    pass
