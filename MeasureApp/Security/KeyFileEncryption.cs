using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;

namespace MeasureApp.Security;

/// <summary>
/// The 256-bit secret that encrypts the Data Protection key ring at rest. It lives in its own file
/// (mode 0600, folder 0700) outside the data folder: the key ring in the database or in Redis is useless
/// without it, so a copied database file cannot mint login cookies.
/// </summary>
public sealed class KeyRingSecret
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private KeyRingSecret(string path, byte[] key)
    {
        Path = path;
        Key = key;
    }

    /// <summary>Where the secret is stored.</summary>
    public string Path { get; }

    internal byte[] Key { get; }

    /// <summary>The configured (or default) key file's full path; fails naming the key when it lies inside the data folder.</summary>
    public static string ResolvePath(string? configured, string dataDirectory)
    {
        string path;
        if (!string.IsNullOrWhiteSpace(configured))
        {
            path = System.IO.Path.GetFullPath(configured);
        }
        else
        {
            var home = Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData, Environment.SpecialFolderOption.DoNotVerify);
            if (string.IsNullOrEmpty(home))
            {
                throw new InvalidOperationException("Security:KeyFile is empty and this account has no home folder: set Security:KeyFile to a file outside the data folder.");
            }
            path = System.IO.Path.Combine(home, "MeasureApp", "keyring.key");
        }
        var data = System.IO.Path.GetFullPath(dataDirectory).TrimEnd(System.IO.Path.DirectorySeparatorChar) + System.IO.Path.DirectorySeparatorChar;
        if (path.StartsWith(data, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"Security:KeyFile '{path}' lies inside Storage:DataDirectory: a copy of the data folder would then carry the key. Put it elsewhere.");
        }
        return path;
    }

    /// <summary>Reads the secret, creating it (atomically, 0600) on first start.</summary>
    public static KeyRingSecret LoadOrCreate(string path)
    {
        var folder = System.IO.Path.GetDirectoryName(path)!;
        if (!Directory.Exists(folder))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(folder);
            }
            else
            {
                Directory.CreateDirectory(folder, OwnerOnlyFolder);
            }
        }
        if (!File.Exists(path))
        {
            // Written aside and moved into place: a second instance starting at the same moment either
            // wins the move or reads the finished file, never a half-written one.
            var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnly;
            }
            using (var stream = new FileStream(temp, options))
            using (var writer = new StreamWriter(stream, Encoding.ASCII))
            {
                writer.Write(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
            }
            try
            {
                File.Move(temp, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                File.Delete(temp);
            }
        }
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & ~OwnerOnly) != 0)
        {
            File.SetUnixFileMode(path, OwnerOnly);
        }
        byte[] key;
        try
        {
            key = Convert.FromBase64String(File.ReadAllText(path).Trim());
        }
        catch (FormatException ex)
        {
            throw new InvalidOperationException($"Security:KeyFile '{path}' does not hold a base64 key: {ex.Message}", ex);
        }
        if (key.Length != 32)
        {
            throw new InvalidOperationException($"Security:KeyFile '{path}' must hold 32 bytes (base64), not {key.Length}.");
        }
        return new KeyRingSecret(path, key);
    }
}

/// <summary>Encrypts each Data Protection key element with AES-256-GCM under <see cref="KeyRingSecret"/>.</summary>
public sealed class KeyFileXmlEncryptor(KeyRingSecret secret) : IXmlEncryptor
{
    /// <inheritdoc />
    public EncryptedXmlInfo Encrypt(XElement plaintextElement)
    {
        ArgumentNullException.ThrowIfNull(plaintextElement);
        var plain = Encoding.UTF8.GetBytes(plaintextElement.ToString(SaveOptions.DisableFormatting));
        var sealedBytes = new byte[12 + 16 + plain.Length];
        var nonce = sealedBytes.AsSpan(0, 12);
        RandomNumberGenerator.Fill(nonce);
        using (var aes = new AesGcm(secret.Key, 16))
        {
            aes.Encrypt(nonce, plain, sealedBytes.AsSpan(28), sealedBytes.AsSpan(12, 16));
        }
        CryptographicOperations.ZeroMemory(plain);
        var element = new XElement("encryptedKey",
            new XComment(" AES-256-GCM under the MeasureApp key file (Security:KeyFile) "),
            new XElement("value", Convert.ToBase64String(sealedBytes)));
        return new EncryptedXmlInfo(element, typeof(KeyFileXmlDecryptor));
    }
}

/// <summary>Decrypts key elements written by <see cref="KeyFileXmlEncryptor"/> (created by Data Protection with the service provider).</summary>
public sealed class KeyFileXmlDecryptor(IServiceProvider services) : IXmlDecryptor
{
    /// <inheritdoc />
    public XElement Decrypt(XElement encryptedElement)
    {
        ArgumentNullException.ThrowIfNull(encryptedElement);
        var secret = services.GetService(typeof(KeyRingSecret)) as KeyRingSecret
            ?? throw new CryptographicException("The key ring is encrypted with a MeasureApp key file, and none is configured here.");
        var sealedBytes = Convert.FromBase64String((string?)encryptedElement.Element("value") ?? "");
        if (sealedBytes.Length < 28)
        {
            throw new CryptographicException("The encrypted key element is truncated.");
        }
        var plain = new byte[sealedBytes.Length - 28];
        using (var aes = new AesGcm(secret.Key, 16))
        {
            aes.Decrypt(sealedBytes.AsSpan(0, 12), sealedBytes.AsSpan(28), sealedBytes.AsSpan(12, 16), plain);
        }
        return XElement.Parse(Encoding.UTF8.GetString(plain));
    }
}
