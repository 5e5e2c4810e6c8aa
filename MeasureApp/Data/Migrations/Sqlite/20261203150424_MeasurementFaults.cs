using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MeasureApp.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class MeasurementFaults : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "FaultsJson",
                table: "measurements",
                type: "TEXT",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "FaultsJson",
                table: "measurements");
        }
    }
}
